"""The Docker-API engine (Docker and podman): the only room that imports the Docker SDK.

connection.py (a URL -> DockerConnection), engine.py (a run's containers, DockerSandbox),
images.py (preparing cell images). May import backends.base, backends.images, recipes, config,
matrix and the base modules.
"""
