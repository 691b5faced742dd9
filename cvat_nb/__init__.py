"""Review computer-vision annotations in Jupyter and push preannotations into CVAT

Modules:

- `cvat_nb.cvat`: Connect to a CVAT server, find a task, check a COCO dataset against the task before sending it, upload with a backup and a manifest, and download a task's annotations back as a `Dataset`; retry only what is safe to repeat.
- `cvat_nb.demo`: Masks to COCO RLE, validation, previews, a CVAT archive, then a task on a CVAT server (a local stand-in by default): pre-flight, create, upload, download and a round-trip report. No network, no server of yours.
- `cvat_nb.standin`: A local, in-memory imitation of a CVAT 2.73 server that the real `cvat-sdk` client works against unchanged: create a task from images, import COCO 1.0 and COCO Keypoints 1.0 annotations, export them, with CVAT's own error messages, requests that can be held in flight, and injected faults.
- `cvat_nb.standin_formats`: How a CVAT 2.73 server reads COCO 1.0 and COCO Keypoints 1.0 into its own shapes, and writes them back out: the conversions behind `cvat_nb.standin`, with the messages a real server fails with.
- `cvat_nb.standin_wire`: The HTTP side of `cvat_nb.standin`: multipart bodies and image headers in, CVAT 2.73's JSON resources and request life cycle out, and the fault rules that make it misbehave on purpose."""

__version__ = "0.1.0"
