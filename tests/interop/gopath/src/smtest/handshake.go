// SPDX-License-Identifier: MIT

// Package smtest is the socketmaster wire handshake (docs/PROTOCOL.md §3) and a
// yamux frame tap, written by hand like the original Go socketmaster, for
// the Go peers of the interoperability tests. It is built in GOPATH mode:
// tests/interop/meson.build adds tests/interop/gopath to GOPATH.
package smtest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
)

const (
	// FlagHTTP and FlagTLS are the bits of the definition's flags byte
	FlagHTTP = 0x01
	FlagTLS  = 0x02

	maxString = 64 * 1024   // Address, DomainSuffix, PathPrefix and status
	maxPEM    = 1024 * 1024 // Cert and Key
)

// Definition is the SocketDefinition a service sends to the daemon.
type Definition struct {
	Address, DomainSuffix, PathPrefix, Cert, Key string
	Port                                         uint64
	Flags                                        byte
}

func appendInt(b *bytes.Buffer, v uint64) {
	var raw [8]byte
	binary.BigEndian.PutUint64(raw[:], v)
	b.Write(raw[:])
}

func appendString(b *bytes.Buffer, s string) {
	appendInt(b, uint64(len(s)))
	b.WriteString(s)
}

// Encode gives the handshake request: the HTTP and TLS fields follow only
// when their flag is set.
func (d *Definition) Encode() []byte {
	var b bytes.Buffer
	appendString(&b, d.Address)
	appendInt(&b, d.Port)
	b.WriteByte(d.Flags)
	if d.Flags&FlagHTTP != 0 {
		appendString(&b, d.DomainSuffix)
		appendString(&b, d.PathPrefix)
	}
	if d.Flags&FlagTLS != 0 {
		appendString(&b, d.Cert)
		appendString(&b, d.Key)
	}
	return b.Bytes()
}

func readInt(r io.Reader) (uint64, error) {
	var raw [8]byte
	if _, err := io.ReadFull(r, raw[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(raw[:]), nil
}

// readString checks the length against limit before allocating it.
func readString(r io.Reader, limit uint64, name string) (string, error) {
	length, err := readInt(r)
	if err != nil {
		return "", fmt.Errorf("%s length: %w", name, err)
	}
	if length > limit {
		return "", fmt.Errorf("%s is %d bytes long, limit is %d", name, length, limit)
	}
	text := make([]byte, length)
	if _, err := io.ReadFull(r, text); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return string(text), nil
}

// ReadDefinition parses a handshake request, as the daemon does.
func ReadDefinition(r io.Reader) (*Definition, error) {
	var d Definition
	var err error
	if d.Address, err = readString(r, maxString, "Address"); err != nil {
		return nil, err
	}
	if d.Port, err = readInt(r); err != nil {
		return nil, fmt.Errorf("Port: %w", err)
	}
	if d.Port == 0 || d.Port > 65535 {
		return nil, fmt.Errorf("port %d is out of range", d.Port)
	}
	var flags [1]byte
	if _, err := io.ReadFull(r, flags[:]); err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}
	d.Flags = flags[0]
	if d.Flags&^(FlagHTTP|FlagTLS) != 0 {
		return nil, fmt.Errorf("unknown flag bits 0x%02x", d.Flags)
	}
	if d.Flags&FlagHTTP != 0 {
		if d.DomainSuffix, err = readString(r, maxString, "DomainSuffix"); err != nil {
			return nil, err
		}
		if d.PathPrefix, err = readString(r, maxString, "PathPrefix"); err != nil {
			return nil, err
		}
	}
	if d.Flags&FlagTLS != 0 {
		if d.Cert, err = readString(r, maxPEM, "Cert"); err != nil {
			return nil, err
		}
		if d.Key, err = readString(r, maxPEM, "Key"); err != nil {
			return nil, err
		}
	}
	return &d, nil
}

// EncodeStatus gives the daemon's answer to a handshake ("OK" or a reason).
func EncodeStatus(status string) []byte {
	var b bytes.Buffer
	appendString(&b, status)
	return b.Bytes()
}

func readStatus(r io.Reader) (string, error) {
	length, err := readInt(r)
	if err != nil {
		return "", fmt.Errorf("reading the status length: %w", err)
	}
	if length > maxString {
		return "", fmt.Errorf("status length %d is over %d", length, maxString)
	}
	status := make([]byte, length)
	if _, err := io.ReadFull(r, status); err != nil {
		return "", fmt.Errorf("reading the status: %w", err)
	}
	return string(status), nil
}

// Register connects to the daemon's control address, sends the handshake
// and reads the status: on "OK" the connection is ready for yamux.
func Register(control string, d *Definition) (net.Conn, error) {
	conn, err := net.Dial("tcp", control)
	if err != nil {
		return nil, fmt.Errorf("cannot connect: %w", err)
	}
	if _, err := conn.Write(d.Encode()); err != nil {
		conn.Close()
		return nil, fmt.Errorf("cannot send the handshake: %w", err)
	}
	status, err := readStatus(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if status != "OK" {
		conn.Close()
		return nil, fmt.Errorf("rejected: %s", status)
	}
	return conn, nil
}
