"""Review computer-vision annotations in Jupyter and push preannotations into CVAT

Modules:

- `cvat_nb.cvat`: Connect to a CVAT server, find a task, check a COCO dataset against the task before sending it, upload with a backup and a manifest, and download a task's annotations back as a `Dataset`.
- `cvat_nb.standin`: A local, in-memory imitation of a CVAT 2.73 server that the real `cvat-sdk` client works against unchanged: create a task from images, import COCO 1.0 annotations, export them, with CVAT's own error messages."""

__version__ = "0.1.0"
