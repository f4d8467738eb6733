"""Do the other forms of the training step's operations give the same numbers on this device?

    python tools/forms_check.py [cpu|cuda]

- the field's fused sampling-and-decoding pass (`FusedTriplaneField`) against grid_sample + the decoder: values and the
  gradients of planes and decoder weights, at the paper's plane size and a K=3 batch's worth of points per object;
- the [1,3,3,1] filters as pools and interpolation (`set_fir_form('pool')`) against depthwise convolutions, in fp32 and
  in bf16 under autocast: values and input gradients.
Prints the largest difference relative to the largest value of each tensor and FAILED where one exceeds its tolerance.
"""
import sys
import torch
from geo3d.backbone import blur, set_fir_form, upsample2d
from geo3d.decoder import TriplaneDecoder, triplane_field

dev = torch.device(sys.argv[1] if len(sys.argv) > 1 else ("cuda" if torch.cuda.is_available() else "cpu"))
if dev.type == "cuda": torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
g = torch.Generator().manual_seed(0)
failed = []

def compare(what, a, b, tol):
    errs = []
    for i, (x, y) in enumerate(zip(a, b)):
        rel = ((x.float() - y.float()).abs().max() / y.float().abs().max().clamp_min(1e-12)).item()
        bad = not rel <= tol
        if bad: failed.append(f"{what}[{i}]")
        errs.append(rel)
        print(f"{what:32s} tensor {i}: max |difference| / max |value| = {rel:.2e}{'  FAILED' if bad else ''}")
    return errs

# the field: plain and fused, values and gradients
res, ch, m = (64, 32, 40000) if dev.type == "cpu" else (256, 32, 3 * 4096 * 48)
planes = (torch.randn(2, 3, ch, res, res, generator=g) * 0.5).to(dev).requires_grad_()
dec = TriplaneDecoder(ch, 64, 32, 2).to(dev)
points = ((torch.rand(2, m, 3, generator=g) - 0.5) * 1.05).to(dev)       # some outside the box
outs = []
for fused in (False, True):
    raw, feat = triplane_field(planes, dec, fused=fused)(points)
    loss = (raw * torch.linspace(-1, 1, m, device=dev)).sum() + (feat ** 2).sum()
    outs.append([raw, feat, *torch.autograd.grad(loss, [planes, *dec.parameters()])])
compare("fused field", outs[1], outs[0], 1e-4)

# the FIR filters: conv and pool forms, in fp32 and in bf16 (each bf16 form against fp32's numbers: pool no worse than conv)
x = torch.randn(4, 64, 32, 32, generator=g).to(dev).requires_grad_()
def filters(form, dtype):
    set_fir_form(form)
    try:
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            ys = [upsample2d(x.to(dtype)), blur(x.to(dtype), 2, 4.0), blur(x.to(dtype), 1)]
        return ys + list(torch.autograd.grad(sum((y.float() * torch.cos(y.float())).sum() for y in ys), x))
    finally: set_fir_form("conv")
ref = filters("conv", torch.float32)
compare("FIR pool form, fp32", filters("pool", torch.float32), ref, 1e-5)
errors = [compare(f"FIR {form} form, bf16 vs fp32", filters(form, torch.bfloat16), ref, 5e-2) for form in ("conv", "pool")]
for i, (c, p) in enumerate(zip(*errors)):
    if p > 2 * c + 1e-3: failed.append(f"FIR pool bf16 [{i}]: {p:.2e} against conv's {c:.2e}")
print(f"forms_check on {dev}: " + (f"FAILED {failed}" if failed else "all the same numbers within tolerance"))
sys.exit(1 if failed else 0)
