"""`flask` sub-commands: `flask users ...`; other groups register themselves here."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from app.services import users as user_service
from database.session import transaction

users_cli = AppGroup("users", help="Manage the people who can sign in.")


@users_cli.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(list(user_service.ROLES)), default="editor", show_default=True)
@click.password_option(help="Prompted for when not given.")
def create_user(username: str, role: str, password: str) -> None:
    """Create a user who can sign in."""
    with transaction():
        try:
            user_service.create_user(username, password, role)
        except user_service.UserError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {username}")


@users_cli.command("token")
@click.argument("username")
def issue_token(username: str) -> None:
    """Give USERNAME a new API token (the previous one stops working) and print it once."""
    with transaction():
        user = user_service.get_by_username(username)
        if user is None:
            raise click.ClickException(f"no user {username!r}")
        token = user_service.issue_api_token(user)
    click.echo(token)


def register_commands(app: Flask) -> None:
    app.cli.add_command(users_cli)
    from app.cli_backup import backup_cli

    app.cli.add_command(backup_cli)
