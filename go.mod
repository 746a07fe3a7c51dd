module github.com/wxcard/wxcard

go 1.26

require (
	github.com/stretchr/testify v1.10.0
	github.com/wechatpay-apiv3/wechatpay-go v0.2.20
)

require (
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
