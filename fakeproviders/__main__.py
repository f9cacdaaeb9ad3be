"""Command line: start every fake provider and the control API, print their URLs (and any option a fake chose,
such as the SMTP fake's CA file) as one JSON line."""

import argparse
import asyncio
import json
import logging
import signal
import sys

from . import DEFAULT_HOST, FAKES
from .control import ControlApi
from .records import Store
from .server import Listener, ProviderEndpoint, url


def endpoint(api, store: Store, host: str, port: int):
    """An HTTP fake is served by a ProviderEndpoint; a fake of another protocol (SMTP) makes its own endpoint."""
    make_endpoint = getattr(api, "endpoint", None)
    return make_endpoint(store, host, port) if make_endpoint else ProviderEndpoint(api, store, host, port)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fakeproviders", description=__doc__)
    parser.add_argument("--host", default=DEFAULT_HOST, help="the only address to bind")
    for name in (*FAKES, "control"):
        parser.add_argument(f"--{name}-port", type=int, default=0, help="0 picks a free port")
    for api in FAKES.values():
        for option, default in api.OPTIONS.items():
            parser.add_argument(f"--{option.replace('_', '-')}", default=default)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    """Serve until SIGTERM or SIGINT."""
    apis = [api.from_options(vars(args)) for api in FAKES.values()]
    store = Store(api.name for api in apis)
    endpoints = {api.name: endpoint(api, store, args.host, getattr(args, f"{api.name}_port")) for api in apis}
    control = Listener(args.host, args.control_port, ControlApi(endpoints, store).serve)
    listeners = {**{name: e.listener for name, e in endpoints.items()}, "control": control}
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # before the URLs, so a prompt signal is handled
        asyncio.get_running_loop().add_signal_handler(signum, stopping.set)
    for listener in listeners.values():
        await listener.start()
    chosen = {option: value for e in endpoints.values() for option, value in e.chosen_options.items()}
    print(json.dumps({**{name: e.url for name, e in endpoints.items()},
                      "control": url("http", args.host, control.port), **chosen}), flush=True)
    await stopping.wait()
    for listener in listeners.values():
        await listener.stop()


def main(argv=None) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="fakeproviders: %(message)s")
    try:
        asyncio.run(run(parse_args(argv)))
    except OSError as exc:  # a port already taken, or a host we cannot bind
        sys.exit(f"fakeproviders: cannot listen: {exc}")


if __name__ == "__main__":
    main()
