"""Building and training the models from the teacher, anny (build time only: needs ``anny``; not
shipped in the extension zip).

Reading order: :mod:`.teacher` (anny: sampling bodies, running it, latents to and from it) ->
:mod:`.build_explicit` (the exact field's explicit layer from anny's own blendshapes, rig and
skinning) -> :mod:`.build_bundle` (the neural bundle: shape space, skeleton, parts, template prior) ->
:mod:`.ground_truth` (libigl / point-cloud-utils reference distance, winding sign and semantics: evaluation
and cross-checks) -> :mod:`.data` and :mod:`.stream` (training chunks, fixed or streamed, their ground truth
from the exact field) -> :mod:`.train` (the network, resumable) ->
:mod:`.detail` and :mod:`.rebox` (detail stages, part boxes grown to the slider ends) ->
:mod:`.held_out` and :mod:`.evaluate`, :mod:`.evaluate_corners`, :mod:`.evaluate_detail` (measured on
bodies never trained on).
"""
