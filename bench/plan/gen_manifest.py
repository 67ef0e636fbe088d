#!/usr/bin/env python3
"""Writes an idealstack.toml with N sites of 3 domains each (default 1,000) to stdout."""
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
print('[stack]\nname = "bench"\nregion = "us-east-1"\navailability_zones = 3\n')
print('[stack.instances]\ntypes = ["m7i.xlarge", "m6i.xlarge"]\nmin = 3\nmax = 60\n')
for i in range(n):
    print(f'[[sites]]\nname = "site{i:04d}"')
    print(f'domains = ["site{i:04d}.example.com", "site{i:04d}.example.net", "site{i:04d}.example.org"]')
    print(f'database = {"true" if i % 2 == 0 else "false"}\n')
