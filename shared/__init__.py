"""The shared library: model, quantization, kernels, LoRA, training, data, evaluation, tracking.

Imports flow one way: experiments -> scripts -> papers -> shared. Nothing in shared imports papers.
"""
