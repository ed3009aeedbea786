package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// faultFS is a FUSE loopback of a directory whose writes can be made to fail
// with EROFS while files stay open, which is what a data disk turning
// read-only under a running server looks like to it. (A kernel remount
// read-only is refused while files are open for writing.)
type faultFS struct {
	readOnly atomic.Bool
	server   *fuse.Server
}

// mountFaultFS mounts a loopback of backing at mountpoint.
func mountFaultFS(backing, mountpoint string) (*faultFS, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(backing, &st); err != nil {
		return nil, err
	}
	ff := &faultFS{}
	root := &fs.LoopbackRoot{Path: backing, Dev: uint64(st.Dev)}
	rn := &faultNode{LoopbackNode: &fs.LoopbackNode{RootData: root}, ff: ff}
	root.RootNode = rn
	srv, err := fs.Mount(mountpoint, rn, &fs.Options{MountOptions: fuse.MountOptions{FsName: "presence-jepsen-faultfs", Name: "faultfs"}})
	if err != nil {
		return nil, fmt.Errorf("mount the fault-injecting filesystem (needs /dev/fuse): %w", err)
	}
	ff.server = srv
	return ff, nil
}

func (ff *faultFS) unmount() error { return ff.server.Unmount() }

// faultNode is a loopback node that refuses changes while read-only.
type faultNode struct {
	*fs.LoopbackNode
	ff *faultFS
}

func (n *faultNode) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	return &faultNode{LoopbackNode: ops.(*fs.LoopbackNode), ff: n.ff}
}

func (n *faultNode) ro() bool { return n.ff.readOnly.Load() }

func (n *faultNode) wrap(fh fs.FileHandle) fs.FileHandle {
	if lf, ok := fh.(*fs.LoopbackFile); ok {
		return &faultFile{LoopbackFile: lf, ff: n.ff}
	}
	return fh
}

func (n *faultNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if n.ro() && flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC) != 0 {
		return nil, 0, syscall.EROFS
	}
	fh, fl, errno := n.LoopbackNode.Open(ctx, flags)
	return n.wrap(fh), fl, errno
}

func (n *faultNode) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if n.ro() {
		return nil, nil, 0, syscall.EROFS
	}
	in, fh, fl, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	return in, n.wrap(fh), fl, errno
}

func (n *faultNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.ro() {
		return nil, syscall.EROFS
	}
	return n.LoopbackNode.Mkdir(ctx, name, mode, out)
}

func (n *faultNode) Unlink(ctx context.Context, name string) syscall.Errno {
	if n.ro() {
		return syscall.EROFS
	}
	return n.LoopbackNode.Unlink(ctx, name)
}

func (n *faultNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	if n.ro() {
		return syscall.EROFS
	}
	return n.LoopbackNode.Rmdir(ctx, name)
}

func (n *faultNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if n.ro() {
		return syscall.EROFS
	}
	if p, ok := newParent.(*faultNode); ok {
		newParent = p.LoopbackNode
	}
	return n.LoopbackNode.Rename(ctx, name, newParent, newName, flags)
}

func (n *faultNode) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if n.ro() {
		return syscall.EROFS
	}
	if ff, ok := f.(*faultFile); ok {
		f = ff.LoopbackFile
	}
	return n.LoopbackNode.Setattr(ctx, f, in, out)
}

// faultFile is an open loopback file whose writes fail while read-only.
type faultFile struct {
	*fs.LoopbackFile
	ff *faultFS
}

func (f *faultFile) PassthroughFd() (int, bool) { return 0, false } // every write comes through here

func (f *faultFile) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if f.ff.readOnly.Load() {
		return 0, syscall.EROFS
	}
	return f.LoopbackFile.Write(ctx, data, off)
}

func (f *faultFile) Writev(ctx context.Context, data [][]byte, off int64) (uint32, syscall.Errno) {
	if f.ff.readOnly.Load() {
		return 0, syscall.EROFS
	}
	return f.LoopbackFile.Writev(ctx, data, off)
}

func (f *faultFile) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if f.ff.readOnly.Load() {
		return syscall.EROFS
	}
	return f.LoopbackFile.Fsync(ctx, flags)
}

func (f *faultFile) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	if f.ff.readOnly.Load() {
		return syscall.EROFS
	}
	return f.LoopbackFile.Allocate(ctx, off, size, mode)
}

func (f *faultFile) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if f.ff.readOnly.Load() {
		return syscall.EROFS
	}
	return f.LoopbackFile.Setattr(ctx, in, out)
}
