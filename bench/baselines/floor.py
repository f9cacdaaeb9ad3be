"""Baseline (a), the framework floor: Flask under the service's gunicorn settings, parsing the JSON, answering 200."""
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/email")
def email():
    request.get_json()
    return jsonify(provider="floor", id="floor")


@app.get("/healthcheck")
def healthcheck():
    return jsonify(status="ok")
