"""The body field: latents in, signed distance + semantics out (torch).

Reading order: :mod:`.rotations` and :mod:`.kinematics` (pure tensor functions: the skeleton as a
function of shape, forward kinematics) -> :mod:`.shape_space` (named phenotypes <-> beta) ->
:mod:`.poses` (joint ranges and pose presets) -> :mod:`.latents` (validated latents of a batch) ->
:mod:`.network` (the per-part implicit network) -> :mod:`.loader` (a bundle's tensors as a model's
parts) -> :mod:`.model` (the public :class:`~.model.Model`: ``latents``, ``query``, ``mesh``).
:mod:`.cache` holds the per-model caches every layer above uses.
"""
