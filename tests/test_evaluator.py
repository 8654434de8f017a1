"""The background evaluator with the real model: latest wins, cancel, errors, stop."""
import threading
import time

import numpy as np

from imghum_blender.runtime.body_mesh import BodyRequest, evaluate
from imghum_blender.runtime.evaluator import Evaluator


def _job(phen_age: float, resolution: int = 48):
    def job(model, progress):
        progress(0.0)
        return evaluate(model, BodyRequest(resolution=resolution, phenotypes={"age": phen_age}))
    return job


def test_latest_request_wins(model):
    ev = Evaluator(lambda: model)
    try:
        for i in range(30):
            ev.submit("body", _job(0.3 + 0.01 * i))
        out = ev.drain(timeout=120)
        assert len(out) == 1 and out[0].error is None
        direct = evaluate(model, BodyRequest(resolution=48, phenotypes={"age": 0.3 + 0.01 * 29}))
        assert np.allclose(out[0].result.vertices, direct.vertices)
        ev.submit("a", _job(0.5))
        ev.submit("b", _job(0.6))
        assert sorted(o.key for o in ev.drain(timeout=120)) == ["a", "b"]
    finally:
        ev.stop()
    assert not ev.alive


def test_cancel_and_errors(model):
    started = threading.Event()

    def slow(model_, progress):
        started.set()
        for _ in range(200):
            time.sleep(0.01)
            progress(0.5)
        return "done"

    ev = Evaluator(lambda: model)
    try:
        ev.submit("body", slow)
        started.wait(10)
        assert ev.busy("body") and ev.progress("body") is not None
        assert ev.cancel("body")
        assert ev.drain(timeout=10) == []
        nan_beta = BodyRequest(resolution=48, beta=np.full(model.vocabulary.beta_size, np.nan))
        ev.submit("body", lambda m, p: evaluate(m, nan_beta))
        (out,) = ev.drain(timeout=60)
        assert out.result is None and "NaN" in out.error
    finally:
        ev.stop()


def test_model_load_failure_is_reported():
    def broken():
        raise ValueError("model file is broken")

    ev = Evaluator(broken)
    try:
        ev.submit("body", _job(0.5))
        (out,) = ev.drain(timeout=10)
        assert out.error == "model file is broken"
    finally:
        ev.stop()


def test_the_evaluator_owns_one_model_loaded_once():
    """The worker and the caller's thread share one model, loaded by whichever asks first."""
    loads = []
    gate = threading.Event()

    def loader():
        loads.append(threading.current_thread().name)
        gate.wait(10)
        return object()

    ev = Evaluator(loader)
    try:
        assert not ev.model_loaded
        ev.submit("body", lambda model, progress: model)
        time.sleep(0.1)  # the worker is loading now; the caller waits for that load, not another
        gate.set()
        shared = ev.model()
        (out,) = ev.drain(timeout=10)
        assert out.result is shared and ev.model() is shared and ev.model_loaded
        assert loads == ["imghum-evaluator"] and ev.submitted == 1
    finally:
        ev.stop()
    assert not ev.model_loaded


def test_plain_bundle_loader_loads_with_the_thread_policy(model, monkeypatch):
    """The loader is plain: the thread policy, then the bundle's model (no add-on state)."""
    from imghum_blender.bundle.header import DEFAULT_BUNDLE
    from imghum_blender.runtime import threads
    from imghum_blender.runtime.evaluator import bundle_loader

    calls = []
    monkeypatch.setattr(threads, "use_runtime_policy", lambda: calls.append(1) or 1)  # this process keeps its threads
    loaded = bundle_loader(str(DEFAULT_BUNDLE))()
    assert calls == [1] and loaded.vocabulary == model.vocabulary


def test_poll_and_drain_select_keys():
    """A caller collects only its own keys' outcomes; the others stay for their callers."""
    ev = Evaluator(lambda: None)
    try:
        for key in ("body", "bake:body"):
            ev.submit(key, lambda model, progress, key=key: key)
        assert [o.key for o in ev.drain(timeout=10, where=lambda k: ":" not in k)] == ["body"]
        assert not ev.busy(where=lambda k: ":" in k)
        assert [o.key for o in ev.poll()] == ["bake:body"] and ev.submitted == 2
    finally:
        ev.stop()


def test_armature_pose_request_is_the_model_pose(model):
    """The add-on sends the armature's pose as read from Blender; the core converts it once."""
    import torch

    from imghum_blender.surface import rig
    from imghum_blender.runtime.body_mesh import ArmaturePose, latents_for
    from imghum_blender.field.rotations import rotvec_to_matrix

    y, z = rig.bone_directions(model)
    rest = np.stack([np.cross(y, z), y, z], -1)  # any bone orientation works
    deltas = rotvec_to_matrix(torch.randn(len(y), 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
                              * 0.3).numpy()
    local = rig.bones_from_pose(rig.pose_maps(model, rest), deltas)
    location = np.array([0.01, -0.02, 0.03])
    from_armature = latents_for(model, BodyRequest(resolution=48, armature=ArmaturePose(rest, local, location)))
    direct = latents_for(model, BodyRequest(resolution=48, pose=deltas,
                                            root_translation=rig.root_translation(model, rest[0], location)))
    assert torch.allclose(from_armature.pose, direct.pose, atol=1e-5)
    assert torch.allclose(from_armature.root_translation, direct.root_translation)
    assert "tag" not in BodyRequest.__dataclass_fields__


def test_job_meshes_requests_in_turn_with_progress(model):
    from imghum_blender.runtime.body_mesh import job

    seen = []
    reqs = [BodyRequest(resolution=32, phenotypes={"age": a}) for a in (0.4, 0.8)]
    out = job(reqs)(model, seen.append)
    assert seen == [0.0, 0.5, 1.0] and len(out) == 2
    assert np.allclose(out[1].vertices, evaluate(model, reqs[1]).vertices)
