"""A local, faithful stand-in for the Clockify main API, the Clockify detailed-report API and
Linear's GraphQL API, serving deterministic synthetic data with fault injection.

    from sandbox import Sandbox, SandboxConfig
    with Sandbox(SandboxConfig(seed=7)) as sb:
        os.environ.update(sb.env())
"""

from .clock import Clock, RemoteClock
from .config import SandboxConfig
from .data import Workspace, generate_workspace

__all__ = ["Clock", "FaultInjector", "RemoteClock", "Sandbox", "SandboxConfig", "Workspace", "generate_workspace"]


def __getattr__(name):  # lazy: importing the data model must not start building GraphQL schemas
    if name == "Sandbox":
        from .server import Sandbox

        return Sandbox
    if name == "FaultInjector":
        from .faults import FaultInjector

        return FaultInjector
    raise AttributeError(name)
