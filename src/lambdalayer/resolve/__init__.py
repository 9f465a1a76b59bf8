"""Requirements → one wheel per package for a target (uv, the exact glibc floor), and why.

Imports only inputs, net and the core; knows nothing of layers, checks or AWS.
"""
