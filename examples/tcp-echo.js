#!/usr/bin/env -S gjs -m
// SPDX-License-Identifier: MIT
//
// tcp-echo.js: a socketmaster TCP service in JavaScript (GJS).
//
// It asks the socketmaster daemon for a public TCP port and sends every
// byte a client writes back to that client. The daemon owns the public
// port and hands each connection over as a GIOStream.
//
//   socketmaster --bind 127.0.0.1:9999 &
//   gjs -m examples/tcp-echo.js --port 7000 &
//   nc 127.0.0.1 7000
//
// Needs GJS and libsocketmaster's typelib (Socketmaster-1.typelib). The
// control address comes from --control, $SOCKETMASTER_ADDRESS or the
// default 127.0.0.1:9999. Ctrl-C (SIGTERM) stops it gracefully.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import Socketmaster from 'gi://Socketmaster?version=1';
import System from 'system';

let port = 7000;
let control = null;
const args = ARGV.slice();
while (args.length > 0) {
    const arg = args.shift();
    if (arg === '--port')
        port = parseInt(args.shift(), 10);
    else if (arg === '--control')
        control = args.shift();
    else {
        printerr(`tcp-echo.js: unknown argument ${arg}`);
        System.exit(2);
    }
}

const loop = new GLib.MainLoop(null, false);
const definition = Socketmaster.SocketDefinition.new(port);
const listener = Socketmaster.Listener.new(control, definition);

// Copies everything the client sends back to it. At the client's EOF,
// CLOSE_TARGET closes our side for writing, so the client reads EOF after
// the last echoed byte; closing the stream then hands it back to the
// listener, which a graceful close waits for.
listener.connect('incoming', (_listener, stream) => {
    stream.get_output_stream().splice_async(stream.get_input_stream(),
        Gio.OutputStreamSpliceFlags.CLOSE_TARGET, GLib.PRIORITY_DEFAULT, null,
        (output, result) => {
            try {
                output.splice_finish(result);
            } catch (e) {
                printerr(`tcp-echo.js: connection ended: ${e.message}`);
            }
            stream.close_async(GLib.PRIORITY_DEFAULT, null, (s, r) => {
                try {
                    s.close_finish(r);
                } catch (e) {
                    // already reset by the client: nothing to do
                }
            });
        });
    return true;
});

listener.connect('lost', (_listener, error) => {
    printerr(`tcp-echo.js: lost the daemon: ${error.message}`);
    loop.quit();
});

let status = 0;
listener.start_async(null, (l, result) => {
    try {
        l.start_finish(result);
        print(`tcp-echo.js: serving port ${port} through ${l.get_control_address()}`);
    } catch (e) {
        printerr(`tcp-echo.js: could not register: ${e.message}`);
        status = 1;
        loop.quit();
    }
});

const stop = () => {
    listener.close_async(null, (l, result) => {
        try {
            l.close_finish(result);
        } catch (e) {
            printerr(`tcp-echo.js: ${e.message}`);
        }
        loop.quit();
    });
    return GLib.SOURCE_REMOVE;
};
GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, 2 /* SIGINT */, stop);
GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, 15 /* SIGTERM */, stop);

loop.run();
System.exit(status);
