"""Baseline (b): the least a Flask proxy can do: forward to Mailgun on a pooled session; no validation,
no circuits, no failover, no logging. Configured by the same SMSP_* variables as the service."""
import os

import requests
from flask import Flask, jsonify, request
from requests.adapters import HTTPAdapter

MAILGUN_URL = f"{os.environ['SMSP_MG_BASE_URL']}/v3/{os.environ['SMSP_MG_DOMAIN']}/messages"
TIMEOUT_S = float(os.environ.get("SMSP_PROVIDER_TIMEOUT", "2"))

session = requests.Session()
# One pooled keep-alive connection per request thread, as the service has.
session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=int(os.environ["SMSP_THREADS"])))
session.auth = ("api", os.environ["SMSP_MG_API_KEY"])
# Not naive in one respect, as the service is not: otherwise requests re-reads proxy variables and .netrc
# on every call (about 8% of this proxy's throughput here), and a slower baseline would flatter the service.
session.trust_env = False

app = Flask(__name__)


@app.post("/email")
def email():
    body = request.get_json()
    fields = {"from": body["fromaddress"], "to": body["toaddress"], "subject": body["subject"],
              "text": body["plaintextbody"]}
    reply = session.post(MAILGUN_URL, data=fields, timeout=TIMEOUT_S)
    reply.raise_for_status()
    return jsonify(provider="mailgun", id=reply.json()["id"])


@app.get("/healthcheck")
def healthcheck():
    return jsonify(status="ok")
