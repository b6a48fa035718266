"""Server selection: per-worker server state and the schedulers."""

from l7lb.balancing.hash_key import HashKey
from l7lb.balancing.pool_state import PoolState
from l7lb.balancing.server_state import ServerState

__all__ = ["HashKey", "PoolState", "ServerState"]
