"""A page counter kept in Kumo's key-value add-on, as a Spin Python SDK app
keeps one: `key_value.open_default()` is the app's kumo-keyvalue add-on (Spin's
fermyon:spin/key-value interface), so the count survives restarts, deploys and
sleep. The Python buildpack sees the import and builds the app against the
key-value interfaces; Flask is served through the Procfile's `gunicorn app:app`.
"""

from flask import Flask
from spin_sdk import key_value

app = Flask(__name__)


@app.route("/")
def index():
    store = key_value.open_default()
    views = int(store.get("page-views") or b"0") + 1
    store.set("page-views", str(views).encode())
    return f"Page views: {views}\n"
