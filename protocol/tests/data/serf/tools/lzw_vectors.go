// Generates lzw.hex: inputs and their Go compress/lzw (LSB, literal width 8) encodings, the
// compression memberlist applies. Run: go run lzw_vectors.go > ../lzw.hex
package main

import (
	"bytes"
	"compress/lzw"
	"encoding/hex"
	"fmt"
)

func compress(in []byte) []byte {
	var b bytes.Buffer
	w := lzw.NewWriter(&b, lzw.LSB, 8)
	w.Write(in)
	w.Close()
	return b.Bytes()
}

func main() {
	cases := map[string][]byte{}
	order := []string{}
	add := func(name string, in []byte) { cases[name] = in; order = append(order, name) }
	add("empty", []byte{})
	add("one", []byte("a"))
	add("repeat", bytes.Repeat([]byte("hello "), 40))
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	add("all_bytes", all)
	// xorshift so the Rust side needs nothing but the stored input.
	x := uint32(2463534242)
	rnd := make([]byte, 9000)
	for i := range rnd {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		rnd[i] = byte(x) & 0x3f
	}
	add("random_9000", rnd)
	zeros := make([]byte, 5000)
	add("zeros_5000", zeros)
	for _, n := range order {
		fmt.Printf("%s %s %s\n", n, hex.EncodeToString(cases[n]), hex.EncodeToString(compress(cases[n])))
	}
}
