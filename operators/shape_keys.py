"""Shape-key operators: the 52 ARKit facial actions as shape keys on a template-topology body."""
from ..imghum_blender.runtime.body_mesh import latents_for
from . import runtime, scene_data
from .base import BodyOperator


class IMGHUM_OT_add_face_keys(BodyOperator):
    """Add the ARKit facial actions as shape keys on the body's template-topology mesh (each the body
    at that single action minus the neutral face, both on the implicit field), relative to a Basis.
    Imported ARKit CSV recordings then key these shape keys instead of re-meshing"""

    bl_idname = "imghum.add_face_keys"
    bl_label = "Add ARKit Shape Keys"

    def run(self, context, arm):
        ob = arm.imghum.mesh_object
        if ob is None or ob.data.get(scene_data.TOPOLOGY_PROP) != "template":
            raise ValueError("ARKit shape keys need the template topology: set Mesh > Topology to Template "
                             "and update the mesh")
        from ..imghum_blender.surface.face_keys import face_keys  # torch: imported on first use

        model = runtime.model()
        keys = face_keys(model, latents_for(model, runtime.snapshot(arm, arm.imghum.final_resolution)))
        scene_data.write_face_keys(ob, keys)
        self.report({"INFO"}, f"{len(keys.keys)} ARKit shape keys in {keys.seconds:.1f} s")
        return {"FINISHED"}


classes = (IMGHUM_OT_add_face_keys,)
