// SPDX-License-Identifier: MIT

package smtest

import "net"

// ListenOrRegister gives a service's listener: with listen set (ADDR:PORT,
// port 0: any), a plain TCP listener there, so that benchmarks can put
// other proxies in front of exactly the handler the daemon fronts; else
// the daemon session that register sets up. what names it in messages.
func ListenOrRegister(listen string, register func() (net.Listener, error)) (listener net.Listener, what string, err error) {
	if listen != "" {
		listener, err = net.Listen("tcp", listen)
		return listener, "listener", err
	}
	listener, err = register()
	return listener, "session", err
}
