// Generates lzw.hex: inputs and their Go compress/lzw (LSB, literal width 8) encodings, the
// compression memberlist applies. Run: go run lzw_vectors.go > ../lzw.hex
//
// `go run lzw_vectors.go verify < lines` reads `name input_hex compressed_hex` lines (another
// encoder's output) and checks that Go's reader decompresses each to its input.
package main

import (
	"bufio"
	"bytes"
	"compress/lzw"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
)

func verify() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	bad := 0
	for sc.Scan() {
		f := strings.Split(sc.Text(), " ")
		in, _ := hex.DecodeString(f[1])
		comp, _ := hex.DecodeString(f[2])
		out, err := io.ReadAll(lzw.NewReader(bytes.NewReader(comp), lzw.LSB, 8))
		ok := err == nil && bytes.Equal(out, in)
		if !ok {
			bad++
		}
		fmt.Printf("%s go-decodes=%v same-as-go=%v\n", f[0], ok, bytes.Equal(comp, compress(in)))
	}
	if bad > 0 {
		os.Exit(1)
	}
}

func compress(in []byte) []byte {
	var b bytes.Buffer
	w := lzw.NewWriter(&b, lzw.LSB, 8)
	w.Write(in)
	w.Close()
	return b.Bytes()
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "verify" {
		verify()
		return
	}
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
	full := make([]byte, 20000)
	for i := range full {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		full[i] = byte(x >> 8)
	}
	add("random_full_20000", full)
	zeros := make([]byte, 5000)
	add("zeros_5000", zeros)
	for _, n := range order {
		fmt.Printf("%s %s %s\n", n, hex.EncodeToString(cases[n]), hex.EncodeToString(compress(cases[n])))
	}
}
