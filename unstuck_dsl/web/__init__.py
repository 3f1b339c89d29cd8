"""The workspace in a browser: pages rendered on the server (`pages`, Jinja2 templates in
templates/, a few small scripts and one style sheet in static/) that `unstuck serve` mounts at `/`,
with the extra reads they share with the JSON API (`endpoints`) and the browser's sign-in and
CSRF tokens (`session`). Nothing is fetched from outside the server. `DIRECTORY` holds them."""

from pathlib import Path

DIRECTORY = Path(__file__).parent
