"""Review computer-vision annotations in Jupyter and push preannotations into CVAT

Modules:

- `cvat_nb.cvat`: Connect to a CVAT server, find a task, upload a COCO dataset with a pre-flight check, a backup and a manifest, and download a task's annotations back as a `Dataset`; retry only what is safe to repeat.
- `cvat_nb.demo`: Masks to COCO RLE, validation, previews, a CVAT archive, then a task on a CVAT server (a local stand-in by default): pre-flight, create, upload, download and a round-trip report. No network, no server of yours.
- `cvat_nb.preflight`: Check a COCO dataset against a CVAT task's frames and labels before sending it, under the rules CVAT's COCO import follows, and repair the file names that match no frame. Pure functions: no server needed.
- `cvat_nb.review`: Create a CVAT task from a COCO dataset (its labels, its images in order), and compare what a task gives back with what was sent, object by object.
- `cvat_nb.standin`: A local, in-memory imitation of a CVAT 2.73 server that the real `cvat-sdk` client works against unchanged: create a task from images, import COCO 1.0 and COCO Keypoints 1.0 annotations, export them (and as CVAT for images 1.1), with CVAT's own error messages, requests that can be held in flight, and injected faults.
- `cvat_nb.standin_formats`: How a CVAT 2.73 server reads COCO 1.0 and COCO Keypoints 1.0 into its own shapes, and writes them back out: the conversions behind `cvat_nb.standin`, with the messages a real server fails with.
- `cvat_nb.standin_wire`: The HTTP side of `cvat_nb.standin`: multipart bodies and image headers in, CVAT 2.73's JSON resources and request life cycle out, and the fault rules that make it misbehave on purpose.
- `cvat_nb.standin_xml`: The `annotations.xml` a CVAT 2.73 server writes when a task is exported as "CVAT for images 1.1" without images: the task and its labels, then one `<image>` per frame with its shapes and tags.
- `cvat_nb.testing`: pytest fixtures that start a stand-in CVAT for a test and stop it afterwards, so code that talks to CVAT can be tested offline, in CI, with the real cvat-sdk."""

__version__ = "0.1.0"
