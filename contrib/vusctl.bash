# bash completion for vusctl (installed as
# share/bash-completion/completions/vusctl). Commands and options as in
# `vusctl --help`; sockets and files complete as file names, device
# names and device types from `vusctl --control CTL --json list` and
# `... types` when --control is given.
_vusctl() {
	local cur prev words cword ctl="" i cmd="" npos=0
	_init_completion || return
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-C | --control) ctl=${words[i + 1]}; ((i++)) ;;
		-t | --timeout | --len | --width | --count | --to | --socket | --name | \
			--max-rounds | --max-time | --downtime) ((i++)) ;;
		-*) ;;
		*) if [[ -z $cmd ]]; then cmd=${words[i]}; else ((npos++)); fi ;;
		esac
	done
	case $prev in
	-C | --control | --to | --socket) _filedir; return ;;
	-t | --timeout | --len | --count | --name | --max-rounds | --max-time | --downtime)
		return ;;
	--width) mapfile -t COMPREPLY < <(compgen -W "1 2 4 8" -- "$cur"); return ;;
	esac
	if [[ $cur == -* ]]; then
		local opts="--control --json --timeout --help --version"
		case $cmd in
		read) opts="--len --force" ;;
		write) opts="--width --hex --force" ;;
		config) opts="--header" ;;
		irqs) opts="--watch --count" ;;
		remove | reset) opts="--force" ;;
		migrate) [[ -n $ctl ]] && opts="--to --socket --name --remove-source --create-only
			--max-rounds --max-time --downtime" ;;
		esac
		mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
		return
	fi
	if [[ -z $cmd ]]; then
		if [[ -n $ctl ]]; then
			local types
			types=$(vusctl --control "$ctl" --json types 2>/dev/null |
				grep -o '"name": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/')
			mapfile -t COMPREPLY < <(compgen -W "list types stats log-level add remove
				info config irqs read write reset upgrade migrate $types" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "info config read write reset irqs
				save load migrate" -- "$cur")
		fi
		return
	fi
	if [[ -n $ctl ]]; then
		case $cmd in
		log-level) mapfile -t COMPREPLY < <(compgen -W "err warn info debug trace" \
			-- "$cur"); return ;;
		upgrade) _filedir; return ;;
		list | types | add) return ;;
		esac
		local names
		names=$(vusctl --control "$ctl" --json list 2>/dev/null |
			grep -o '"name": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/')
		if ((npos == 0)); then
			mapfile -t COMPREPLY < <(compgen -W "$names" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "bar0 bar1 bar2 bar3 bar4 bar5 rom config vga" \
				-- "$cur")
		fi
	else
		case $cmd in
		save | load | migrate) _filedir ;;
		*) if ((npos == 0)); then
			_filedir
		else
			mapfile -t COMPREPLY < <(compgen -W "bar0 bar1 bar2 bar3 bar4 bar5 rom config vga" \
				-- "$cur")
		fi ;;
		esac
	fi
}
complete -F _vusctl vusctl
