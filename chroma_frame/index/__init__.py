"""Vector indexes: NNDescent graphs over blockfiles, searched by a small numba kernel.

Nothing here imports numba or pynndescent at module import; :mod:`.kernels` and :mod:`.build`
do, and are loaded off the query path.
"""
