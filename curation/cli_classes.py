"""`curate classes`: show or edit the catalog's taxonomy (class names, labeler keys, emoji)."""
from __future__ import annotations

import click

from db.cli import catalog_options, open_for_command, print_json, user_errors


@click.command(
    "classes",
    epilog="""\b
Examples:
  curate classes                                   # list: name, key, emoji
  curate classes --add contempt --key 8 --emoji 😒
  curate classes --add happy --emoji 😊            # change an existing class's emoji
  curate classes --remove contempt                 # only when no face has that label
""",
)
@catalog_options
@click.option("--add", "add", metavar="NAME", help="Add a class, or change an existing one's --key / --emoji.")
@click.option("--key", metavar="KEY", help="The labeler's keyboard shortcut for the class.")
@click.option("--emoji", metavar="EMOJI", help="The emoji shown beside the class.")
@click.option("--remove", "remove", metavar="NAME", help="Remove a class that no face is labeled with.")
@click.option("--json", "as_json", is_flag=True, help="Print the classes as JSON.")
@user_errors
def classes_command(catalog_location, store, add, key, emoji, remove, as_json) -> None:
    """Show the classes faces can be labeled with, or edit them."""
    if (key or emoji) and not add:
        raise click.UsageError("--key and --emoji go with --add NAME")
    with open_for_command(catalog_location, store) as cat:
        if add:
            cat.set_class(add, key=key, emoji=emoji)
        if remove:
            cat.remove_class(remove)
        classes = cat.classes()
    if as_json:
        print_json([{"name": c.name, "key": c.key, "emoji": c.emoji} for c in classes])
        return
    for c in classes:
        click.echo(f"{c.key or '-':>3}  {c.emoji or ' '}  {c.name}")
