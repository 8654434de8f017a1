"""Fitting the model to data: point clouds (full or partial scans) and images (silhouettes and 2D
landmarks), by gradient descent on the latents through the differentiable field. With either
backend the steps evaluate the neural network (:meth:`~imghum_blender.field.model.Model.network_sdf`:
smooth, fast, about a millimetre from the exact surface) and fit its beta; residuals, meshes and
scores use the model's own field. Reading order:

- :mod:`.inputs`: checks of what the fits take (points, normals, masks, keypoints, cameras); torch-free.
- :mod:`.scan_frame`: a scan's unit, up axis, estimated normals and the similarity into the model's frame.
- :mod:`.optimiser`: the free parameters, their priors, the staged Adam loop and :class:`~.optimiser.FitResult`.
- :mod:`.orientation`: where a fit starts: the rigid orientation search, start poses, yaw candidates.
- :mod:`.limbs`: re-posing limbs a local fit leaves stretched into empty space.
- :mod:`.points`: :func:`~.points.fit_points`, the point-cloud fit.
- :mod:`.image`: :func:`~.image.fit_image`, the silhouette and landmark fit, and camera projection.

Nothing is imported here, so the torch-free modules stay light; ``imghum_blender.fit_points``,
``fit_image`` and ``FitResult`` are the public entry points.
"""
