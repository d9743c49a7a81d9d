"""ntm_scratch: augmented recurrent neural networks with every gradient written by hand.

NumPy on the CPU, CuPy on the GPU (see `backend`). Each mechanism has its own module with
forward/backward pairs; `gradcheck` verifies them against finite differences.
"""
__version__ = "0.1.0"
