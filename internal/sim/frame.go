package sim

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
)

// Frame types on the simulated TCP streams. Pings use Pinpoint's own 2-byte
// control packets (pinpoint.Ping, pinpoint.LegacyPing) with no body.
const frameData uint16 = 0x0001

// errCorrupt is a frame whose checksum does not match.
var errCorrupt = errors.New("corrupt frame")

// writeFrame writes a data frame: type, 4-byte length, payload, CRC-32 of
// the payload.
func writeFrame(w io.Writer, payload []byte) error {
	buf := make([]byte, 6+len(payload)+4)
	binary.BigEndian.PutUint16(buf, frameData)
	binary.BigEndian.PutUint32(buf[2:], uint32(len(payload)+4))
	copy(buf[6:], payload)
	binary.BigEndian.PutUint32(buf[6+len(payload):], crc32.ChecksumIEEE(payload))
	_, err := w.Write(buf)
	return err
}

// readBody reads the rest of a data frame after its type. It returns
// io.ErrUnexpectedEOF when the stream ends inside the frame.
func readBody(r io.Reader) (int, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return 0, unexpected(err)
	}
	size := binary.BigEndian.Uint32(n[:])
	if size < 4 || size > 1<<20 {
		return 0, errCorrupt
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, unexpected(err)
	}
	payload := body[:size-4]
	if crc32.ChecksumIEEE(payload) != binary.BigEndian.Uint32(body[size-4:]) {
		return 0, errCorrupt
	}
	return int(size) + 6, nil
}

// unexpected turns a clean EOF inside a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
