// SPDX-License-Identifier: MIT

package smtest

import (
	"encoding/binary"
	"net"
)

// The yamux ping flags (hashicorp/yamux const.go)
const (
	FlagSYN = 1
	FlagACK = 2
)

// FrameTap follows the yamux frames going one way through a connection
// and reports every ping frame it sees with its flags.
type FrameTap struct {
	header [12]byte
	have   int
	skip   uint32
	OnPing func(flags uint16)
}

func (t *FrameTap) feed(p []byte) {
	for len(p) > 0 {
		if t.skip > 0 {
			n := uint32(len(p))
			if n > t.skip {
				n = t.skip
			}
			p = p[n:]
			t.skip -= n
			continue
		}
		n := copy(t.header[t.have:], p)
		t.have += n
		p = p[n:]
		if t.have < len(t.header) {
			return
		}
		t.have = 0
		switch t.header[1] {
		case 0: // data: the payload follows
			t.skip = binary.BigEndian.Uint32(t.header[8:12])
		case 2:
			t.OnPing(binary.BigEndian.Uint16(t.header[2:4]))
		}
	}
}

// TappedConn feeds what is read to In and what is written to Out; either
// may be nil.
type TappedConn struct {
	net.Conn
	In, Out *FrameTap
}

func (c *TappedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.In != nil {
		c.In.feed(p[:n])
	}
	return n, err
}

func (c *TappedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.Out != nil {
		c.Out.feed(p[:n])
	}
	return n, err
}
