"""imGHUM Bodies: Blender extension entry point (register / unregister only)."""
from . import operators, panels, properties

_modules = (properties, operators, panels)


def register() -> None:
    """Register the add-on's classes in dependency order."""
    for module in _modules:
        module.register()


def unregister() -> None:
    """Unregister in reverse order."""
    for module in reversed(_modules):
        module.unregister()
