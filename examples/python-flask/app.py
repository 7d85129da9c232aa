"""A Flask app for Kumo, as it would run on Heroku: Kumo's Python buildpack
serves the WSGI callable the Procfile names through wasi:http."""

import os

from flask import Flask, request

app = Flask(__name__)


@app.route("/")
def index():
    greeting = os.environ.get("GREETING", "Hello")
    return f"{greeting} from Flask on Kumo: {request.method} {request.path}\n"


@app.route("/echo", methods=["POST"])
def echo():
    return request.get_data()
