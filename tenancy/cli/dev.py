"""`tenancy dev`: the local throwaway PostgreSQL and Redis."""

from __future__ import annotations

import typer

from tenancy.cli.context import console
from tenancy.devstack.stack import LocalStack
from tenancy.settings import Settings

app = typer.Typer(
    help="Local throwaway PostgreSQL and Redis (the embedded defaults).", no_args_is_help=True
)


def _stack() -> LocalStack:
    return LocalStack(Settings.from_env().run_dir)


@app.command()
def up() -> None:
    """Start the local servers (if needed) and migrate the registry."""
    stack = _stack()
    stack.up()
    console.print(f"PostgreSQL: 127.0.0.1:{stack.postgres.port} (database tenancy)")
    console.print(f"Redis:      127.0.0.1:{stack.redis.port}")
    console.print(f"passwords:  {stack.state_file} (mode 0600)")


@app.command()
def down() -> None:
    """Stop the local servers; their data stays under the run directory."""
    _stack().down()
    console.print("local stack stopped")


@app.command()
def status() -> None:
    """Say which local servers are running."""
    for name, running in _stack().running().items():
        console.print(f"{name}: {'running' if running else 'stopped'}")
