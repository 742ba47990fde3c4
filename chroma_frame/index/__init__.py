"""Vector indexes: neighbour graphs over blockfiles, built and searched by small cached numba kernels.

Nothing here imports numba at module import; :mod:`.kernels` and :mod:`.knn_graph`
do, and are loaded off the query path.
"""
