#!/usr/bin/env python3
"""PyTorch reference latency for ResNet-18, batch 1, on the same GPU as npuc.

  torch_resnet18.py [--runs 200] [--warmup 20]

Prints the median, min and p90 of eager fp32 and eager fp16 latency in ms, each
run synchronised with torch.cuda.synchronize() like npurun's submit+wait.
"""
import argparse
import statistics
import time

import torch
import torchvision


def measure(model, x, runs, warmup):
    with torch.no_grad():
        for _ in range(warmup):
            model(x)
        torch.cuda.synchronize()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            model(x)
            torch.cuda.synchronize()
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return statistics.median(times), times[0], times[int(0.9 * (len(times) - 1))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    a = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    m = torchvision.models.resnet18().eval().cuda()
    x = torch.randn(1, 3, 224, 224, device="cuda")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
    med, lo, p90 = measure(m, x, a.runs, a.warmup)
    print(f"pytorch eager fp32: median {med:.3f} ms, min {lo:.3f} ms, p90 {p90:.3f} ms")
    med, lo, p90 = measure(m.half(), x.half(), a.runs, a.warmup)
    print(f"pytorch eager fp16: median {med:.3f} ms, min {lo:.3f} ms, p90 {p90:.3f} ms")


if __name__ == "__main__":
    main()
