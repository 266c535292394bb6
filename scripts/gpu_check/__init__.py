"""The parts of scripts/gpu-check: results (report), the checked runs and
their comparison with the float64 reference and the CPU kernels (runs), the
correctness and behaviour sections (checks) and the speed section (speed)."""
