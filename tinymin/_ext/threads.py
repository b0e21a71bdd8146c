"""placeholder"""
import os
_N = os.cpu_count() or 1
def num_threads():
    return _N
def set_num_threads(n):
    global _N
    _N = int(n)
