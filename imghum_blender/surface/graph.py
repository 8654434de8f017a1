"""Triangle-mesh connectivity shared by the meshers: vertex adjacency and how many faces share each edge."""
from __future__ import annotations

import numpy as np


def _face_edges(faces: np.ndarray) -> np.ndarray:
    """Each face's three edges (3F,2): corners 0-1 of every face, then 1-2, then 2-0."""
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def vertex_adjacency(faces: np.ndarray, n_vertices: int):
    """The vertex graph of a triangle mesh: its adjacency (V,V) csr matrix of ones and each vertex's
    number of neighbours (V,)."""
    from scipy.sparse import coo_matrix

    e = _face_edges(faces)
    adj = coo_matrix((np.ones(2 * len(e)), (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])),
                     shape=(n_vertices, n_vertices)).tocsr()
    adj.data[:] = 1.0
    return adj, np.asarray(adj.sum(1)).ravel()


def edge_face_counts(faces: np.ndarray, n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """Each face's edges (3F,2), sorted, and how many faces share each of them (3F,): 2 on a closed
    manifold, 1 on a boundary."""
    edges = np.sort(_face_edges(faces), 1)
    _, inverse, counts = np.unique(edges[:, 0].astype(np.int64) * n_vertices + edges[:, 1], return_inverse=True,
                                   return_counts=True)
    return edges, counts[inverse.ravel()]
