"""jseq's benchmark harness: the same models on the same data in jseq, Keras 3 (JAX) and hand-written JAX.

Run it from the repository root with `python -m benchmarks --quick` (a few minutes on 2 CPU cores) or
`python -m benchmarks` (the full set); see `benchmarks/README.md`.
"""
