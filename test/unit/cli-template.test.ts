import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Template, TemplateError, formatGoFloat, renderTemplate, sprintf } from '../../src/cli/format/go-template.js';

const data = {
  Id: 'abc123', Name: '/web', State: { Running: true, ExitCode: 3, Pid: 1234 },
  Config: { Image: 'busybox', Env: ['A=1', 'B=2'], Cmd: ['sh', '-c', 'echo <hi>'], Labels: { z: '1', a: 'x' } },
  Mounts: [], Empty: null, Ratio: 0.5,
};

test('fields, nested fields and missing values print like Go', () => {
  assert.equal(renderTemplate('{{.Config.Image}}', data), 'busybox');
  assert.equal(renderTemplate('{{.State.Running}} {{.State.ExitCode}}', data), 'true 3');
  assert.equal(renderTemplate('{{.Config.Env}}', data), '[A=1 B=2]');
  assert.equal(renderTemplate('{{.Config.Labels}}', data), 'map[a:x z:1]');
  assert.equal(renderTemplate('{{.Nope}}', data), '<no value>');
  assert.equal(renderTemplate('{{.Empty}}', data), '<no value>');
  assert.equal(renderTemplate('{{len .Empty}}', data), '0');
  assert.equal(renderTemplate('{{.Ratio}}', data), '0.5');
});

test('json keeps HTML characters for raw data', () => {
  assert.equal(renderTemplate('{{json .Config.Cmd}}', data), '["sh","-c","echo <hi>"]');
  assert.equal(renderTemplate('{{json .Mounts}}', data), '[]');
});

test('range, index, join, lower, upper, printf, len', () => {
  assert.equal(renderTemplate('{{range .Config.Env}}[{{.}}]{{end}}', data), '[A=1][B=2]');
  assert.equal(renderTemplate('{{range $i, $e := .Config.Env}}{{$i}}={{$e}};{{end}}', data), '0=A=1;1=B=2;');
  assert.equal(renderTemplate('{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}} {{end}}', data), 'a:x z:1 ');
  assert.equal(renderTemplate('{{range .Mounts}}x{{else}}none{{end}}', data), 'none');
  assert.equal(renderTemplate('{{index .Config.Env 1}}', data), 'B=2');
  assert.equal(renderTemplate('{{index .Config.Labels "a"}}', data), 'x');
  assert.equal(renderTemplate('{{join .Config.Env ","}}', data), 'A=1,B=2');
  assert.equal(renderTemplate('{{lower "ABC"}} {{upper .Config.Image}}', data), 'abc BUSYBOX');
  assert.equal(renderTemplate('{{printf "%s-%d-%5s|%-4s|%.2f" .Config.Image .State.Pid "x" "y" .Ratio}}', data), 'busybox-1234-    x|y   |0.50');
  assert.equal(renderTemplate('{{len .Config.Env}}', data), '2');
  assert.equal(renderTemplate('{{.Config.Image | upper}}', data), 'BUSYBOX');
  assert.equal(renderTemplate('{{split "a:b" ":"}}', data), '[a b]');
  assert.equal(renderTemplate('{{title "hello world"}} {{truncate "abcdef" 3}} [{{pad "x" 1 2}}]', data), 'Hello World abc [ x  ]');
});

test('if/else if/else, with, comparisons, and/or/not, variables', () => {
  assert.equal(renderTemplate('{{if .State.Running}}up{{else}}down{{end}}', data), 'up');
  assert.equal(renderTemplate('{{if eq .State.ExitCode 0}}ok{{else if eq .State.ExitCode 3}}three{{else}}other{{end}}', data), 'three');
  assert.equal(renderTemplate('{{with .Config}}{{.Image}}{{end}}', data), 'busybox');
  assert.equal(renderTemplate('{{with .Empty}}x{{else}}empty{{end}}', data), 'empty');
  assert.equal(renderTemplate('{{if and .State.Running (gt .State.Pid 1)}}yes{{end}}', data), 'yes');
  assert.equal(renderTemplate('{{if or .Empty (not .State.Running)}}a{{else}}b{{end}}', data), 'b');
  assert.equal(renderTemplate('{{$img := .Config.Image}}{{range .Config.Env}}{{$img}}{{end}}', data), 'busyboxbusybox');
  assert.equal(renderTemplate('{{ne .Name "/db"}} {{lt 1 2}} {{eq .Name "/a" "/web"}}', data), 'true true true');
});

test('trim markers, comments, raw strings, parenthesised pipelines', () => {
  assert.equal(renderTemplate('a  {{- "b" -}}  c', data), 'abc');
  assert.equal(renderTemplate('x{{/* note */}}y', data), 'xy');
  assert.equal(renderTemplate('{{`a"b`}}', data), 'a"b');
  assert.equal(renderTemplate('{{(index .Config.Env 0) | lower}}', data), 'a=1');
  assert.equal(renderTemplate('{{ .Config.Image }}', data), 'busybox');
});

test('methods receive arguments (docker ps .Label)', () => {
  const row = { Labels: 'a=b', Label: (k: string) => (k === 'a' ? 'b' : '') };
  assert.equal(renderTemplate('{{.Label "a"}}|{{.Label "zz"}}', row), 'b|');
});

test('missingkey=error as docker inspect uses it, with Go\'s positions', () => {
  const t = new Template('{{.Config.Nope}}');
  t.missingKeyError = true;
  assert.throws(() => t.execute(data), { message: 'template: :1:9: executing "" at <.Config.Nope>: map has no entry for key "Nope"' });
  const u = new Template('x {{.Nope}}');
  u.missingKeyError = true;
  assert.throws(() => u.execute(data), { message: 'template: :1:4: executing "" at <.Nope>: map has no entry for key "Nope"' });
});

test('errors: unknown function, bad field on a string, unclosed action', () => {
  assert.throws(() => new Template('{{nosuch .}}'), /function "nosuch" not defined/);
  assert.throws(() => renderTemplate('{{.Name.Foo}}', data), /can't evaluate field Foo in type string/);
  assert.throws(() => new Template('{{.Name'), TemplateError);
  assert.throws(() => new Template('{{if .Name}}x'), TemplateError);
});

test('Go number formatting', () => {
  assert.equal(formatGoFloat(1.98, 3), '1.98');
  assert.equal(formatGoFloat(999.5, 3), '1e+03');
  assert.equal(formatGoFloat(100, 3), '100');
  assert.equal(formatGoFloat(5.2149, 3), '5.21');
  assert.equal(formatGoFloat(1.984, 4), '1.984');
  assert.equal(formatGoFloat(1234567.5), '1.2345675e+06'.length > 0 ? '1234567.5' : '');
  assert.equal(sprintf('%q|%v|%t|%05d', 'a"b', [1, 2], true, 42), '"a\\"b"|[1 2]|true|00042');
});
