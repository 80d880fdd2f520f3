"""``kafka://host:port[,host:port...]/topic`` → bootstrap servers and topic."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ticklake.errors import BrokerError

# Kafka's own rule for topic names: 1-249 of [a-zA-Z0-9._-], not "." or "..".
_TOPIC = re.compile(r"[A-Za-z0-9._\-]{1,249}")
_HOST = re.compile(r"[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\]")


@dataclass(frozen=True)
class LogUri:
    brokers: tuple[str, ...]  # "host:port" each
    topic: str

    @property
    def bootstrap(self) -> str:
        return ",".join(self.brokers)

    def __str__(self) -> str:
        return f"kafka://{self.bootstrap}/{self.topic}"


def parse_log_uri(text: str) -> LogUri:
    """Parse a log URI; anything wrong raises a BrokerError naming the problem."""

    def bad(problem: str) -> BrokerError:
        return BrokerError(f"invalid log URI {text!r}: {problem}")

    scheme, sep, rest = text.partition("://")
    if not sep or scheme != "kafka":
        problem = "expected kafka://host:port[,host:port]/topic"
        raise bad(problem)
    hosts, slash, topic = rest.partition("/")
    if not slash or not topic:
        problem = "no topic (kafka://host:port/TOPIC)"
        raise bad(problem)
    if not _TOPIC.fullmatch(topic) or topic in {".", ".."}:
        problem = "a topic is 1-249 letters, digits, '.', '_' or '-'"
        raise bad(problem)
    brokers = []
    for item in hosts.split(","):
        host, colon, port = item.rpartition(":")
        if not colon or not host:
            problem = f"broker {item!r} needs host:port"
            raise bad(problem)
        if not _HOST.fullmatch(host):
            problem = f"broker host {host!r} is not a host name or address"
            raise bad(problem)
        if not port.isdigit() or not 0 < int(port) < 65_536:
            problem = f"broker port {port!r} is not a port number"
            raise bad(problem)
        brokers.append(f"{host}:{int(port)}")
    return LogUri(tuple(brokers), topic)
