module github.com/wgtensor/wgtensor

go 1.26

require (
	github.com/rajveermalviya/go-webgpu/wgpu v0.17.1 // indirect
	github.com/stretchr/testify v1.11.1 // indirect
)
