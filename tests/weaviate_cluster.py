"""Three weaviate-server nodes on loopback forming one cluster (gossip + Raft, three voters), for the replication
tests: started together, one killed with SIGKILL and restarted on the same ports and data."""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from knowledge.server import HOST, free_port, is_ready, node_env


@dataclass
class Node:
    name: str
    data: Path
    http: int
    grpc: int
    gossip: int
    raft: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.http}"


@dataclass
class WeaviateCluster:
    binary: Path
    root: Path
    size: int = 3
    nodes: list[Node] = field(default_factory=list)

    def start(self, timeout: float = 120.0) -> WeaviateCluster:
        for i in range(self.size):
            self.nodes.append(Node(f"node{i}", self.root / f"node{i}", free_port(), free_port(), free_port(2),
                                   free_port(2)))
        for i in range(self.size):
            self.spawn(i)
        self.wait(range(self.size), timeout)
        return self

    def spawn(self, i: int) -> None:
        node, first = self.nodes[i], self.nodes[0]
        voters = ",".join(f"{n.name}:{n.raft}" for n in self.nodes)
        env = node_env(node.data, node.grpc, node.name, node.gossip, node.raft, voters, expect=self.size,
                       cluster_join=f"{HOST}:{first.gossip}" if i else "")
        node.data.mkdir(parents=True, exist_ok=True)
        with (self.root / f"{node.name}.log").open("ab") as log:
            node.process = subprocess.Popen(
                [str(self.binary), "--host", HOST, "--port", str(node.http), "--scheme", "http"],
                cwd=node.data, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, which, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = set(which)
        while pending and time.monotonic() < deadline:
            for i in list(pending):
                if self.nodes[i].process.poll() is not None:
                    raise RuntimeError(f"{self.nodes[i].name} exited:\n{self.log(i)}")
                if is_ready(self.nodes[i].http):
                    pending.discard(i)
            time.sleep(0.3)
        if pending:
            raise RuntimeError(f"nodes {sorted(pending)} not ready after {timeout:g} s:\n{self.log(min(pending))}")

    def leader(self) -> int:
        """The index of the node the Raft leader is (as the first live node reports it)."""
        for node in self.nodes:
            try:
                stats = httpx.get(f"{node.url}/v1/cluster/statistics", timeout=5).json()["statistics"]
            except (httpx.HTTPError, KeyError, ValueError):
                continue
            leader = next((s.get("leaderId") for s in stats if s.get("leaderId")), None)
            if leader:
                return [n.name for n in self.nodes].index(leader)
        raise RuntimeError("no node names a Raft leader")

    def kill(self, i: int) -> None:
        process = self.nodes[i].process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(10)

    def restart(self, i: int, timeout: float = 120.0) -> None:
        self.spawn(i)
        self.wait([i], timeout)

    def log(self, i: int) -> str:
        path = self.root / f"{self.nodes[i].name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-30:]) if path.is_file() else "(no log)"

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(30)
                except subprocess.TimeoutExpired:
                    node.process.kill()
