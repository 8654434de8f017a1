"""Small rotation helpers on torch tensors (no external dependency)."""
from __future__ import annotations

import torch


def rotvec_to_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """Axis-angle vectors (..., 3) -> rotation matrices (..., 3, 3) (Rodrigues, safe at 0)."""
    theta2 = (rotvec * rotvec).sum(-1, keepdim=True)[..., None]
    theta = torch.sqrt(theta2.clamp_min(1e-24))
    small = theta2 < 1e-8
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / theta2.clamp_min(1e-24))
    x, y, z = rotvec.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(rotvec.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand_as(k)
    return eye + a * k + b * (k @ k)


def matrix_to_rotvec(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) -> axis-angle vectors (..., 3), angles in [0, pi]; near pi the
    axis comes from the symmetric part (the skew part vanishes there)."""
    m = matrix
    skew = torch.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1)
    cos = ((m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2] - 1) / 2).clamp(-1, 1)
    angle = torch.acos(cos)[..., None]
    sin = torch.sin(angle)
    small = angle < 1e-6
    general = skew * torch.where(small, 0.5 + angle ** 2 / 12, angle / (2 * sin.clamp_min(1e-30)))
    # (M + M^T) / 2 - cos I = (1 - cos) a a^T: its largest column is the axis up to sign.
    sym = (m + m.transpose(-1, -2)) / 2 - cos[..., None, None] * torch.eye(3, dtype=m.dtype, device=m.device)
    col = torch.diagonal(sym, dim1=-2, dim2=-1).argmax(-1)
    axis = torch.nn.functional.normalize(sym.gather(-1, col[..., None, None].expand(*col.shape, 3, 1))[..., 0], dim=-1)
    axis = axis * torch.where((axis * skew).sum(-1, keepdim=True) < 0, -1.0, 1.0).to(m.dtype)
    return torch.where(angle > 3.0, axis * angle, general)


def special_procrustes(m: torch.Tensor, iterations: int = 12, proper: bool = False) -> torch.Tensor:
    """The orthogonal polar factor of each (..., 3, 3) matrix: the nearest orthogonal matrix in
    Frobenius norm, a rotation for matrices with positive determinant.

    Scaled Newton iteration for the polar factor (Higham): unlike an SVD its gradient stays
    finite when singular values coincide, as they do for near-rotation inputs. With ``proper`` the
    few matrices with a negative determinant (degenerate bones of the smallest bodies), whose polar
    factor is a reflection, take the SVD's nearest rotation instead, as the teacher's
    ``roma.special_procrustes`` does (a data-dependent step, skipped for meta tensors, which hold no data)."""
    x = m
    for _ in range(iterations):
        gamma = torch.det(x).abs().clamp_min(1e-30) ** (-1.0 / 3.0)
        x = 0.5 * (gamma[..., None, None] * x + torch.linalg.inv(x).transpose(-1, -2) / gamma[..., None, None])
    flipped = torch.det(m) < 0
    if proper and m.device.type != "meta" and bool(flipped.any()):
        u, _, vh = torch.linalg.svd(m[flipped])
        u = torch.cat([u[..., :2], -u[..., 2:]], -1)  # det(U V^T) = -1 here: flip the weakest axis
        x = x.clone()
        x[flipped] = u @ vh
    return x


def matrix_to_6d(matrix: torch.Tensor) -> torch.Tensor:
    """Continuous 6D representation: the first two columns, (..., 3, 3) -> (..., 6)."""
    return matrix[..., :, :2].transpose(-1, -2).reshape(matrix.shape[:-2] + (6,))


def rigid(rotation: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """Homogeneous (..., 4, 4) transforms from (..., 3, 3) rotations and (..., 3) translations."""
    out = torch.zeros(rotation.shape[:-2] + (4, 4), dtype=rotation.dtype, device=rotation.device)
    out[..., :3, :3] = rotation
    out[..., :3, 3] = translation
    out[..., 3, 3] = 1.0
    return out
