"""The child program that tells what an interpreter is: run with ``-I -S -c``, never imported.

Prints ``<implementation> <major> <minor> <micro> <machine>`` (``cpython 3 12 1 x86_64``),
then ``sys.base_prefix`` on a line of its own (a path may hold spaces); it must run on
any Python 3.
"""

import platform
import sys

print(sys.implementation.name, *sys.version_info[:3], platform.machine())
print(sys.base_prefix)
