package h2c

// Calls keeps a connection's calls (HTTP/2 streams) from the frames of
// both sides, as two Trackers feed it: which are open, whether the server
// has answered each, and whether the client is still sending on it. It
// knows only what frame headers say; a header block's content, as pinlb's
// own frames, is never read.
type Calls struct {
	open       map[uint32]call
	lastClient uint32 // the highest stream the client opened
}

type call struct {
	answered    bool   // the server sent its headers
	clientEnded bool   // the client half-closed it
	data        uint32 // the client's DATA frames on it, wrapping
	looked      uint32 // data at the last look of Quiet
}

// Open is how many calls are open.
func (c *Calls) Open() int { return len(c.open) }

func (c *Calls) client(typ, flags byte, stream uint32) {
	if stream == 0 {
		return
	}
	k, ok := c.open[stream]
	switch {
	case typ == frameRSTStream:
		delete(c.open, stream)
		return
	case typ == frameHeaders && !ok && stream > c.lastClient && stream%2 == 1:
		if c.open == nil {
			c.open = map[uint32]call{}
		}
		c.lastClient, ok = stream, true
	case typ == frameData && ok:
		k.data++
	}
	if !ok {
		return // a stream that ended, or was never open
	}
	if (typ == frameData || typ == frameHeaders) && flags&flagEndStream != 0 {
		k.clientEnded = true
	}
	c.open[stream] = k
}

func (c *Calls) server(typ, flags byte, stream uint32) {
	k, ok := c.open[stream]
	switch {
	case !ok:
	case typ == frameRSTStream, (typ == frameData || typ == frameHeaders) && flags&flagEndStream != 0:
		delete(c.open, stream)
	case typ == frameHeaders:
		k.answered = true
		c.open[stream] = k
	}
}

// Quiet lists the calls the client still sends on that had no DATA of
// the client's since the last look (since they opened, at the first), with
// whether the server answered each: the ones to end gently.
func (c *Calls) Quiet() []QuietCall {
	var into []QuietCall
	for id, k := range c.open {
		if !k.clientEnded && k.data == k.looked {
			into = append(into, QuietCall{Stream: id, Answered: k.answered})
		}
		k.looked = k.data
		c.open[id] = k
	}
	return into
}

// QuietCall is a call Quiet found quiet.
type QuietCall struct {
	Stream   uint32
	Answered bool // the server sent its headers: only trailers may end it
}

// Ended forgets a call that pinlb ended toward the client.
func (c *Calls) Ended(stream uint32) { delete(c.open, stream) }
