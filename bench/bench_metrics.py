"""Metric cost: seconds for FID/KID at N generated images (default 10k, "FID-10k") of the tiny preset, split into its
parts, and the geometry scores per object. Measures a slice of each part and scales it up to N, printing both.

    python bench/bench_metrics.py                         # tiny preset, CPU, FID-10k projected from 256 images
    python bench/bench_metrics.py --measure 10000         # the whole FID-10k, measured (about an hour on 2 CPU cores)
    python bench/bench_metrics.py --device cuda           # on a GPU

Needs the FID Inception: $GEO3D_WEIGHTS/inception-2015-12-05-pool3.pt offline, else the usual download.
"""
import argparse
import os
import tempfile
import time

import torch


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--n", type=int, default=10_000, help="the N of FID-N to report")
    p.add_argument("--measure", type=int, default=256, help="generated images actually timed (scaled to --n)")
    p.add_argument("--geometry", type=int, default=32, help="objects timed for the geometry scores")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args()
    os.environ.setdefault("GEO3D_CACHE", os.path.join(tempfile.gettempdir(), "geo3d-bench-cache"))
    from geo3d.generator import TriplaneGenerator, preset
    from geo3d.synthetic import CLASS_NAMES
    from geo3d.metrics import generated_images, inception_features, fid_kid
    from geo3d.geometry import geometry_metrics, train_depth_classifier
    from geo3d.pretrained import Inception
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    G = TriplaneGenerator(preset(a.preset)).to(dev).eval(); G.class_names = CLASS_NAMES
    net = Inception().to(dev)
    m = a.measure
    # generation alone, then the Inception alone on the same images
    sync(); t0 = time.perf_counter()
    imgs = [x for x in generated_images(G, m, a.batch)]
    sync(); t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    fake, _ = inception_features([x.to(dev) for x in imgs], net)
    sync(); t_inc = time.perf_counter() - t0
    real = fake[torch.randperm(len(fake))]
    t0 = time.perf_counter(); fid_kid(real, fake); t_stat = time.perf_counter() - t0
    clf, _ = train_depth_classifier(progress=False)
    t0 = time.perf_counter(); geometry_metrics(G, a.geometry, 16, classifier=clf); t_geo = time.perf_counter() - t0
    name = torch.cuda.get_device_name() if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    scale = a.n / m
    print(f"bench_metrics: preset {a.preset}, {name}, Inception from {net.source}")
    print(f"  generate   {t_gen / m * 1000:7.1f} ms/image   {t_gen * scale:8.0f} s for {a.n}")
    print(f"  inception  {t_inc / m * 1000:7.1f} ms/image   {t_inc * scale:8.0f} s for {a.n}   (299x299 pool3)")
    print(f"  FID+KID statistics on {m} features: {t_stat:.1f} s (2048x2048 float64; about constant in N)")
    print(f"  FID-{a.n} total: {(t_gen + t_inc) * scale + t_stat:.0f} s  ({'measured' if m >= a.n else f'projected from {m} images'}); "
          f"the real set's features are cached after the first run")
    print(f"  geometry scores: {t_geo / a.geometry * 1000:.0f} ms/object ({a.geometry} objects; NFS, backdrop, 3-view accuracy)")


if __name__ == "__main__":
    main()
