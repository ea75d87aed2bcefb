"""A small web app: the project racer deploys in its demo and tests."""

import logging
import os

import bottle
import waitress

app = bottle.Bottle()


@app.get("/")
def index():
    return {"Hello": "World"}


@app.get("/health")
def health():
    return {"status": "healthy"}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # waitress says where it serves
    waitress.serve(app, host="0.0.0.0", port=int(os.environ.get("PORT", "8000")))
