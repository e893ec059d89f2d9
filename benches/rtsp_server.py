#!/usr/bin/python3
"""A local RTSP server for benches/live.sh: a live 640x480 30 fps test source, JPEG over RTP, at
rtsp://127.0.0.1:PORT/test. Prints the port on its first line of output, then serves until
killed. Each client gets its own source pipeline (a fresh stream per measurement).

    /usr/bin/python3 benches/rtsp_server.py [--port N]     # 0 (default): any free port

Runs with Debian's Python (python3-gi, gir1.2-gst-rtsp-server-1.0): a pyenv python3 has no gi.
"""
import argparse

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

SOURCE = (
    "( videotestsrc is-live=true pattern=ball "
    "! video/x-raw,format=I420,width={width},height={height},framerate={fps}/1 "
    "! jpegenc quality={quality} ! rtpjpegpay name=pay0 pt=26 )"
)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--quality", type=int, default=85)
    a = p.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(SOURCE.format(width=a.width, height=a.height, fps=a.fps, quality=a.quality))
    factory.set_shared(False)
    server.get_mount_points().add_factory("/test", factory)
    if server.attach(None) == 0:
        raise SystemExit("rtsp_server.py: cannot listen on 127.0.0.1:%d" % a.port)
    print(server.get_bound_port(), flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
